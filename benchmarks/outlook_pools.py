"""Word pools for generate_outlook.py: names, companies, places, phone prefixes.

Kept apart from the generator so its logic reads on its own. Everything here is invented
or common knowledge (frequent names, big cities); changing a pool changes every generated
file, so benchmarks stay comparable only while these stay as they are.
"""

from __future__ import annotations

from typing import NamedTuple

# The new Outlook (Outlook.com / new Outlook for Windows) CSV export: 61 columns, in this
# order. Must stay identical to the header of config/samples/outlook.csv.
HEADER: tuple[str, ...] = (
    "First Name", "Middle Name", "Last Name", "Title", "Suffix", "Nickname", "Given Yomi",
    "Surname Yomi", "E-mail Address", "E-mail 2 Address", "E-mail 3 Address", "Home Phone",
    "Home Phone 2", "Business Phone", "Business Phone 2", "Mobile Phone", "Car Phone",
    "Other Phone", "Primary Phone", "Pager", "Business Fax", "Home Fax", "Other Fax",
    "Company Main Phone", "Callback", "Radio Phone", "Telex", "TTY/TDD Phone", "IMAddress",
    "Job Title", "Department", "Company", "Office Location", "Manager's Name",
    "Assistant's Name", "Assistant's Phone", "Company Yomi", "Business Street",
    "Business City", "Business State", "Business Postal Code", "Business Country/Region",
    "Home Street", "Home City", "Home State", "Home Postal Code", "Home Country/Region",
    "Other Street", "Other City", "Other State", "Other Postal Code", "Other Country/Region",
    "Personal Web Page", "Spouse", "Schools", "Hobby", "Location", "Web Page", "Birthday",
    "Anniversary", "Notes",
)  # fmt: skip

COUNTRIES: tuple[str, ...] = ("FR", "DE", "GB", "ES", "IT")
# Share of people (and companies) per country: a French company's address book.
COUNTRY_WEIGHTS: tuple[float, ...] = (0.46, 0.16, 0.14, 0.11, 0.13)
CALLING_CODES: dict[str, str] = {"FR": "33", "DE": "49", "GB": "44", "ES": "34", "IT": "39"}
# Countries whose national notation has a trunk "0" that is not part of the number.
TRUNK_ZERO: frozenset[str] = frozenset({"FR", "DE", "GB"})


def _words(text: str) -> tuple[str, ...]:
    """Split a pool written one entry per comma."""
    return tuple(word.strip() for word in text.split(",") if word.strip())


class Country(NamedTuple):
    female: tuple[str, ...]
    male: tuple[str, ...]
    family: tuple[str, ...]
    salutations_f: tuple[str, ...]
    salutations_m: tuple[str, ...]
    country_names: tuple[str, ...]  # how the country column is written, most usual first
    legal_forms: tuple[str, ...]
    activities: tuple[str, ...]
    activity_first: float  # share of "Transports Girard" over "Girard Conseil"
    family_firms: tuple[str, ...]  # {f}, {g}: family names
    tlds: tuple[str, ...]
    free_mail: tuple[str, ...]
    streets: tuple[str, ...]
    street_number_first: bool  # "12 rue de la Paix" (FR, GB) vs "Hauptstraße 12"
    cities: tuple[tuple[str, str, tuple[str, ...]], ...]  # (city, state, postcodes)
    job_titles: tuple[str, ...]
    departments: tuple[str, ...]
    notes: tuple[str, ...]


FR = Country(
    female=_words("""Marie, Camille, Léa, Chloé, Manon, Inès, Zoé, Anaïs, Hélène, Cécile, Élodie,
        Émilie, Sophie, Isabelle, Nathalie, Valérie, Sandrine, Céline, Aurélie, Julie, Claire,
        Pauline, Mélanie, Agnès, Gaëlle, Bérénice, Maëlle, Noémie, Thérèse, Françoise,
        Geneviève, Joséphine, Marie-Claire, Anne-Sophie, Laëtitia, Capucine, Margaux, Océane,
        Solène, Clémence"""),
    male=_words("""Jean, Pierre, Louis, Hugo, Lucas, Théo, Nathan, Mathéo, Jérôme, Frédéric,
        Stéphane, François, Benoît, Sébastien, Grégory, Cédric, Jérémy, Hervé, Noël, Gaël, Loïc,
        Raphaël, Joël, André, René, Jean-Pierre, Jean-François, Pierre-Yves, Xavier, Olivier,
        Nicolas, Julien, Antoine, Guillaume, Thierry, Éric, Étienne, Régis, Aurélien, Maël"""),
    family=_words("""Martin, Bernard, Dubois, Thomas, Robert, Richard, Petit, Durand, Leroy,
        Moreau, Simon, Laurent, Lefèvre, Michel, Garcia, David, Bertrand, Roux, Vincent,
        Fournier, Morel, Girard, André, Lefebvre, Mercier, Dupont, Lambert, Bonnet, François,
        Martinez, Legrand, Garnier, Faure, Rousseau, Blanc, Guérin, Muller, Henry, Roussel,
        Perrin, Morin, Mathieu, Clément, Gauthier, Dumont, Fontaine, Chevalier, Robin, Masson,
        Gérard, Nguyen, Boyer, Denis, Lemaire, Duval, Joly, Roche, Noël, Meyer, Meunier,
        Pérez, Marchand, Dufour, Blanchard, Barbier, Brun, Dumas, Brunet, Schmitt, Leroux,
        Colin, Renard, Arnaud, Caron, Aubert, Giraud, Leclerc, Vidal, Bourgeois, Renaud,
        Lemoine, Picard, Gaillard, Lacroix, Fabre, Dupuis, Da Silva, Hubert, Guillot, Rivière,
        Le Gall, Le Roux, Moulin, Berger, Lecomte, Ménard, Fleury, Deschamps, Carpentier,
        Maillard, Aubry, Prévost, Poirier, Charpentier, Huet, Carré, Breton, Rémy, Lévêque,
        Pelletier, Bérard, Lebœuf, Béranger, Crépin, Géraud, Hébert, Lécuyer, Mérieux,
        Thébault, Séverin, Jolivet, D'Almeida, Saint-Martin, Chénier, Boulanger, Lefranc"""),
    salutations_f=_words("Mme, Mme, Madame, Dr"),
    salutations_m=_words("M., M., Monsieur, Dr, Me"),
    country_names=_words("France, France, France, FRANCE, FR"),
    legal_forms=_words("SAS, SAS, SARL, SARL, SA, EURL, SASU, SNC, SCI, SELARL"),
    activities=_words("""Conseil, Industrie, Transports, Immobilier, Informatique, Distribution,
        Bâtiment, Électricité, Menuiserie, Imprimerie, Logistique, Ingénierie, Assurances,
        Expertise, Architecture, Énergies, Emballages, Nettoyage, Événements, Télécom,
        Boulangerie, Mécanique, Paysages, Sécurité, Formation"""),
    activity_first=0.45,
    family_firms=("{f} & Fils", "{f} Frères", "{f} & {g}", "Groupe {f}", "Ets {f}"),
    tlds=_words(".fr, .fr, .fr, .com, .eu, .net"),
    free_mail=_words("""gmail.com, gmail.com, gmail.com, orange.fr, orange.fr, wanadoo.fr,
        free.fr, free.fr, laposte.net, sfr.fr, hotmail.fr, hotmail.com, yahoo.fr, outlook.fr,
        icloud.com, neuf.fr, bbox.fr"""),
    streets=_words("""rue de la République, avenue des Champs-Élysées, boulevard Haussmann,
        rue du Faubourg Saint-Honoré, place de la Bourse, rue Victor-Hugo, avenue Jean-Jaurès,
        rue de la Paix, quai des Célestins, rue Émile-Zola, allée des Tilleuls,
        chemin des Vignes, rue Pasteur, avenue Foch, rue Nationale, impasse des Mouettes,
        rue du Général-de-Gaulle, cours Mirabeau, rue Sainte-Catherine, rue de l'Église,
        boulevard de la Croisette, avenue de Verdun, rue des Écoles, route de Lyon,
        place Bellecour, rue du Château, ZI des Estroublans"""),
    street_number_first=True,
    cities=(
        ("Paris", "", ("75001", "75002", "75008", "75009", "75011", "75015", "75017")),
        ("Lyon", "", ("69001", "69002", "69003", "69007")),
        ("Marseille", "", ("13001", "13006", "13008")),
        ("Toulouse", "", ("31000", "31200")), ("Nice", "", ("06000", "06200")),
        ("Nantes", "", ("44000", "44100")), ("Strasbourg", "", ("67000", "67100")),
        ("Montpellier", "", ("34000", "34070")), ("Bordeaux", "", ("33000", "33800")),
        ("Lille", "", ("59000", "59800")), ("Rennes", "", ("35000", "35200")),
        ("Reims", "", ("51100",)), ("Saint-Étienne", "", ("42000", "42100")),
        ("Grenoble", "", ("38000", "38100")), ("Dijon", "", ("21000",)),
        ("Angers", "", ("49000", "49100")), ("Nîmes", "", ("30000", "30900")),
        ("Clermont-Ferrand", "", ("63000", "63100")), ("Aix-en-Provence", "", ("13090",)),
        ("Brest", "", ("29200",)), ("Besançon", "", ("25000",)), ("Orléans", "", ("45000",)),
        ("Boulogne-Billancourt", "", ("92100",)), ("Levallois-Perret", "", ("92300",)),
        ("Neuilly-sur-Seine", "", ("92200",)), ("Courbevoie", "", ("92400",)),
        ("Saint-Denis", "", ("93200",)), ("Annecy", "", ("74000",)), ("Rouen", "", ("76000",)),
        ("Caen", "", ("14000",)), ("Metz", "", ("57000",)), ("Limoges", "", ("87000",)),
        ("Évry-Courcouronnes", "Essonne", ("91000",)), ("Vitrolles", "", ("13127",)),
    ),
    job_titles=_words("""Directeur commercial, Directrice commerciale, Responsable achats,
        Chef de projet, Ingénieur d'affaires, Gérant, Gérante, Assistante de direction,
        Directeur général, Président, Comptable, Responsable marketing, Chargée de clientèle,
        Acheteur, Directeur technique, Responsable RH, Consultant, Développeur, Office manager,
        Directeur administratif et financier, Responsable logistique, Technico-commercial,
        Responsable grands comptes, Architecte, Expert-comptable"""),
    departments=_words("Ventes, Achats, Marketing, Direction, Comptabilité, RH, Logistique, DSI"),
    notes=(
        "Rencontré au salon Vivatech",
        "Client depuis 2015, très satisfait",
        "Rappeler en septembre",
        'A demandé un devis "urgent" pour le projet Lyon',
        "Préfère être contacté par e-mail, pas le vendredi",
        "Ancien contact de l'agence de Nantes\r\nReprise du dossier en 2021",
        "Imported from the old CRM",
    ),
)

DE = Country(
    female=_words("""Anna, Lena, Lea, Hannah, Sophie, Marie, Johanna, Katharina, Julia, Laura,
        Sabine, Ursula, Monika, Petra, Birgit, Jutta, Dörte, Bärbel, Käthe, Gisela, Heike, Anke,
        Silke, Ilse, Renate, Brigitte, Stefanie, Franziska, Charlotte, Greta, Mia, Lotte,
        Frauke, Jülide, Anne-Kathrin"""),
    male=_words("""Lukas, Jonas, Leon, Finn, Paul, Felix, Maximilian, Jürgen, Jörg, Björn,
        Günther, Günter, Uwe, Dieter, Klaus, Wolfgang, Hans, Hans-Peter, Karl-Heinz, Jan,
        Sören, Ömer, Matthias, Andreas, Stefan, Thomas, Michael, Markus, Tobias, Florian,
        Sebastian, Torsten, Dirk, Jens, Bernd, Rüdiger, Jörn, Kai, Till"""),
    family=_words("""Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz,
        Hoffmann, Schäfer, Koch, Bauer, Richter, Klein, Wolf, Schröder, Neumann, Schwarz,
        Zimmermann, Braun, Krüger, Hofmann, Hartmann, Lange, Schmitt, Werner, Schmitz, Krause,
        Meier, Lehmann, Schmid, Schulze, Maier, Köhler, Herrmann, König, Walter, Mayer, Huber,
        Kaiser, Fuchs, Peters, Lang, Scholz, Möller, Weiß, Jung, Hahn, Schubert, Vogel,
        Friedrich, Keller, Günther, Frank, Berger, Winkler, Roth, Beck, Lorenz, Baumann,
        Franke, Albrecht, Schuster, Ludwig, Böhm, Winter, Kraus, Schumacher, Krämer, Vogt,
        Stein, Jäger, Otto, Sommer, Groß, Seidel, Heinrich, Brandt, Haas, Schreiber, Graf,
        Schulte, Dietrich, Ziegler, Kühn, Pohl, Engel, Horn, Busch, Bergmann, Voigt, Sauer,
        Pfeiffer, von Berg, Nußbaum, Öztürk, Yılmaz, Weißmüller, Großmann, Gärtner"""),
    salutations_f=_words("Frau, Frau, Frau Dr., Dr."),
    salutations_m=_words("Herr, Herr, Herr Dr., Dr., Prof. Dr."),
    country_names=_words("Deutschland, Germany, Germany, Allemagne, DE"),
    legal_forms=_words("GmbH, GmbH, GmbH, AG, GmbH & Co. KG, KG, UG (haftungsbeschränkt), e.K."),
    activities=_words("""Maschinenbau, Logistik, Bau, Elektrotechnik, Immobilien, Software,
        Beratung, Metallbau, Druckerei, Versicherungen, Holzbau, Gebäudetechnik, Automation,
        Medizintechnik, Spedition, Steuerberatung, Bäckerei, Kältetechnik"""),
    activity_first=0.2,
    family_firms=("{f} & Söhne", "{f} & {g}", "{f} Gruppe", "Gebr. {f}"),
    tlds=_words(".de, .de, .de, .com, .eu"),
    free_mail=_words("""web.de, web.de, gmx.de, gmx.de, gmx.net, t-online.de, t-online.de,
        gmail.com, gmail.com, googlemail.com, yahoo.de, outlook.de, posteo.de, freenet.de,
        arcor.de"""),
    streets=_words("""Hauptstraße, Bahnhofstraße, Schillerstraße, Goethestraße, Friedrichstraße,
        Königsallee, Am Markt, Lindenstraße, Gartenweg, Mühlenweg, Berliner Allee,
        Kurfürstendamm, Maximilianstraße, Schloßstraße, Neue Straße, Industriestraße,
        Rosenheimer Str., Poststraße, Kaiserstraße, Am Hafen"""),
    street_number_first=False,
    cities=(
        ("Berlin", "Berlin", ("10115", "10178", "10435", "10969", "12043")),
        ("Hamburg", "Hamburg", ("20095", "20354", "22765")),
        ("München", "Bayern", ("80331", "80469", "81369")),
        ("Köln", "Nordrhein-Westfalen", ("50667", "50823")),
        ("Frankfurt am Main", "Hessen", ("60311", "60486")),
        ("Stuttgart", "Baden-Württemberg", ("70173", "70597")),
        ("Düsseldorf", "Nordrhein-Westfalen", ("40210", "40474")),
        ("Leipzig", "Sachsen", ("04109", "04315")), ("Dortmund", "", ("44135",)),
        ("Essen", "", ("45127",)), ("Bremen", "Bremen", ("28195",)),
        ("Dresden", "Sachsen", ("01067",)), ("Hannover", "Niedersachsen", ("30159",)),
        ("Nürnberg", "Bayern", ("90402",)), ("Bonn", "", ("53111",)),
        ("Münster", "", ("48143",)), ("Mannheim", "", ("68159",)),
        ("Karlsruhe", "", ("76133",)), ("Augsburg", "Bayern", ("86150",)),
        ("Freiburg im Breisgau", "Baden-Württemberg", ("79098",)),
    ),
    job_titles=_words("""Geschäftsführer, Geschäftsführerin, Vertriebsleiter, Einkäufer,
        Projektleiterin, Prokurist, Leiter Marketing, Sachbearbeiterin, Key Account Manager,
        Technischer Leiter, Personalreferentin, Buchhalter, Softwareentwickler,
        Außendienstmitarbeiter, Teamleiterin Kundenservice, Inhaber"""),
    departments=_words("Vertrieb, Einkauf, Marketing, Geschäftsleitung, Buchhaltung, IT"),
    notes=(
        "Kontakt von der Hannover Messe",
        "Rückruf erbeten, bevorzugt vormittags",
        "Rahmenvertrag läuft bis Ende 2025",
    ),
)

GB = Country(
    female=_words("""Olivia, Amelia, Isla, Ava, Emily, Sophie, Grace, Lily, Freya, Charlotte,
        Sarah, Emma, Rebecca, Hannah, Lucy, Jessica, Chloë, Zoë, Siobhán, Niamh, Eilidh,
        Catherine, Elizabeth, Margaret, Rachel, Victoria, Harriet, Imogen, Megan, Bethan,
        Renée"""),
    male=_words("""Oliver, George, Harry, Jack, Jacob, Noah, Charlie, Thomas, Oscar, William,
        James, Henry, Daniel, David, Matthew, Christopher, Andrew, Richard, Mark, Paul, Stephen,
        Gareth, Rhys, Seán, Eoin, Callum, Hamish, Alistair, Nigel, Simon"""),
    family=_words("""Smith, Jones, Williams, Taylor, Brown, Davies, Evans, Wilson, Thomas,
        Johnson, Roberts, Robinson, Thompson, Wright, Walker, White, Edwards, Hughes, Green,
        Hall, Lewis, Harris, Clarke, Patel, Jackson, Wood, Turner, Martin, Cooper, Hill, Ward,
        Morris, Moore, Clark, Lee, King, Baker, Harrison, Morgan, Allen, James, Scott,
        Phillips, Watson, Davis, Parker, Price, Bennett, Young, Griffiths, Mitchell, Kelly,
        Cook, Carter, Richardson, Bailey, Collins, Bell, Shaw, Murphy, Miller, Cox, Khan,
        Marshall, Anderson, Simpson, Ellis, Adams, Singh, Wilkinson, Foster, Chapman, Powell,
        Webb, Rogers, Gray, Mason, Hunt, Hussain, Campbell, Owen, Palmer, Holmes, Mills,
        Barnes, Knight, Lloyd, Butler, Russell, Fisher, Stevens, Jenkins, O'Brien, O'Connor,
        O'Sullivan, McDonald, MacLeod, Fitzgerald, Brontë, Ffrench-Constant, ap Rhys"""),
    salutations_f=_words("Ms, Mrs, Miss, Dr, Ms."),
    salutations_m=_words("Mr, Mr., Dr, Prof., Sir"),
    country_names=_words("United Kingdom, United Kingdom, UK, England, Royaume-Uni, GB"),
    legal_forms=_words("Ltd, Ltd, Ltd., Limited, PLC, LLP"),
    activities=_words("""Consulting, Engineering, Logistics, Properties, Software, Construction,
        Solutions, Partners, Holdings, Media, Foods, Recruitment, Analytics, Surveyors,
        Brewing, Motors"""),
    activity_first=0.1,
    family_firms=("{f} & Sons", "{f} & {g}", "{f} Group", "{f} Brothers"),
    tlds=_words(".co.uk, .co.uk, .co.uk, .com, .uk, .io"),
    free_mail=_words("""gmail.com, gmail.com, gmail.com, hotmail.co.uk, hotmail.com,
        btinternet.com, yahoo.co.uk, outlook.com, icloud.com, sky.com, live.co.uk,
        virginmedia.com"""),
    streets=_words("""High Street, Station Road, Church Lane, Victoria Road, King's Road,
        Queen Street, Park Lane, Mill Lane, Oxford Street, Baker Street, Deansgate,
        Princes Street, Bath Road, London Road, The Green, Canary Wharf"""),
    street_number_first=True,
    cities=(
        ("London", "Greater London",
         ("EC1A 1BB", "SW1A 2AA", "W1D 3QF", "E14 5AB", "N1 9GU", "SE1 7PB")),
        ("Birmingham", "West Midlands", ("B1 1BB", "B3 2PW")),
        ("Manchester", "Greater Manchester", ("M1 1AE", "M2 5DB")),
        ("Leeds", "West Yorkshire", ("LS1 4DY",)), ("Glasgow", "", ("G1 1XQ", "G2 3JD")),
        ("Edinburgh", "", ("EH1 1YZ", "EH2 2ER")), ("Bristol", "", ("BS1 4DJ",)),
        ("Liverpool", "Merseyside", ("L1 8JQ",)), ("Sheffield", "", ("S1 2HE",)),
        ("Cardiff", "", ("CF10 1EP",)), ("Newcastle upon Tyne", "", ("NE1 7RU",)),
        ("Nottingham", "", ("NG1 5FS",)), ("Oxford", "Oxfordshire", ("OX1 2JD",)),
        ("Cambridge", "Cambridgeshire", ("CB2 1TN",)), ("Reading", "Berkshire", ("RG1 1AX",)),
    ),
    job_titles=_words("""Sales Director, Managing Director, Procurement Manager, Project Manager,
        Account Executive, Head of Marketing, Finance Director, Operations Manager,
        Office Manager, Business Development Manager, CEO, CTO, HR Business Partner,
        Software Engineer, Buyer, Partner"""),
    departments=_words("Sales, Procurement, Finance, Marketing, Operations, IT"),
    notes=(
        "Met at London Tech Week; follow up in Q3",
        'Goes by "Jim" on the phone',
        "Renewal due in March",
    ),
)

ES = Country(
    female=_words("""María, Lucía, Sofía, Martina, Paula, Julia, Carmen, Ana, Isabel, Laura,
        Cristina, Marta, Elena, Raquel, Pilar, Dolores, Rocío, Inés, Begoña, Nuria, Mónica,
        Verónica, Ángela, Beatriz, Concepción, María José, Ainhoa, Itziar, Montserrat, Núria"""),
    male=_words("""José, Antonio, Manuel, Francisco, David, Juan, Javier, Daniel, Carlos, Jesús,
        Alejandro, Miguel, Rafael, Pablo, Sergio, Fernando, Jorge, Alberto, Álvaro, Adrián,
        Andrés, Rubén, Óscar, Iván, Ramón, Joaquín, Íñigo, Jordi, Xavier, José Luis,
        Juan Carlos"""),
    family=_words("""García, Rodríguez, González, Fernández, López, Martínez, Sánchez, Pérez,
        Gómez, Martín, Jiménez, Ruiz, Hernández, Díaz, Moreno, Muñoz, Álvarez, Romero, Alonso,
        Gutiérrez, Navarro, Torres, Domínguez, Vázquez, Ramos, Gil, Ramírez, Serrano, Blanco,
        Molina, Morales, Suárez, Ortega, Delgado, Castro, Ortiz, Rubio, Marín, Sanz, Núñez,
        Iglesias, Medina, Garrido, Cortés, Castillo, Santos, Lozano, Guerrero, Cano, Prieto,
        Méndez, Cruz, Calvo, Gallego, Vidal, León, Márquez, Herrera, Peña, Flores, Cabrera,
        Campos, Vega, Fuentes, Carrasco, Caballero, Reyes, Nieto, Aguilar, Pascual, Santana,
        Herrero, Lorenzo, Montero, Hidalgo, Giménez, Ibáñez, Ferrer, Durán, Santiago, Benítez,
        Mora, Vicente, Vargas, Arias, Carmona, Crespo, Román, Pastor, Soto, Sáez, Velasco,
        Soler, Parra, Esteban, Bravo, Echevarría, Goikoetxea, Urquijo"""),
    salutations_f=_words("Sra., Sra., Dña., Dra."),
    salutations_m=_words("Sr., Sr., D., Dr."),
    country_names=_words("España, Spain, Spain, Espagne, ES"),
    legal_forms=_words("S.L., S.L., SL, S.A., S.L.U., S.Coop."),
    activities=_words("""Construcciones, Consultoría, Ingeniería, Logística, Inmobiliaria,
        Distribuciones, Transportes, Asesores, Soluciones, Servicios, Alimentación, Reformas"""),
    activity_first=0.7,
    family_firms=("{f} e Hijos", "{f} y {g}", "Grupo {f}", "Hermanos {f}"),
    tlds=_words(".es, .es, .es, .com, .com, .eu"),
    free_mail=_words("""gmail.com, gmail.com, gmail.com, hotmail.es, hotmail.com, yahoo.es,
        outlook.es, telefonica.net, icloud.com, terra.es"""),
    streets=_words("""Calle Mayor, Calle de Alcalá, Gran Vía, Paseo de la Castellana,
        Avenida Diagonal, Calle de Serrano, Plaza de España, Calle Real,
        Avenida de la Constitución, Rambla de Catalunya, Calle Colón,
        Calle San Vicente Mártir, Calle de Atocha, Avenida de Andalucía"""),
    street_number_first=False,
    cities=(
        ("Madrid", "Comunidad de Madrid", ("28001", "28013", "28046")),
        ("Barcelona", "Cataluña", ("08001", "08007", "08036")),
        ("Valencia", "Comunidad Valenciana", ("46001", "46004")),
        ("Sevilla", "Andalucía", ("41001",)), ("Zaragoza", "Aragón", ("50001",)),
        ("Málaga", "Andalucía", ("29001",)), ("Murcia", "", ("30001",)),
        ("Palma", "Islas Baleares", ("07001",)), ("Bilbao", "País Vasco", ("48001", "48009")),
        ("Alicante", "", ("03001",)), ("Córdoba", "", ("14001",)),
        ("Valladolid", "", ("47001",)), ("Vigo", "Galicia", ("36201",)),
        ("A Coruña", "Galicia", ("15001",)), ("Vitoria-Gasteiz", "País Vasco", ("01001",)),
        ("Granada", "", ("18001",)), ("San Sebastián", "", ("20001",)),
        ("Pamplona", "Navarra", ("31001",)),
    ),
    job_titles=_words("""Director comercial, Directora general, Jefe de compras, Gerente,
        Responsable de marketing, Jefa de proyecto, Administrativo, Ingeniero de ventas,
        Director financiero, Técnico comercial, Consultora, Socio"""),
    departments=_words("Ventas, Compras, Marketing, Dirección, Administración"),
    notes=("Conocido en la feria Fitur", "Pide presupuesto para 2025, llamar por la tarde"),
)

IT = Country(
    female=_words("""Sofia, Giulia, Aurora, Alice, Ginevra, Emma, Giorgia, Greta, Beatrice, Anna,
        Francesca, Chiara, Sara, Martina, Valentina, Alessandra, Federica, Elena, Silvia,
        Paola, Roberta, Laura, Simona, Maria Grazia, Anna Maria, Rosaria, Lucia, Caterina,
        Benedetta, Ilaria"""),
    male=_words("""Leonardo, Francesco, Alessandro, Lorenzo, Mattia, Andrea, Gabriele, Riccardo,
        Tommaso, Edoardo, Marco, Giuseppe, Antonio, Giovanni, Luca, Matteo, Davide, Stefano,
        Paolo, Roberto, Niccolò, Nicolò, Gianluca, Gianluigi, Pierluigi, Salvatore, Vincenzo,
        Domenico, Fabrizio, Massimo"""),
    family=_words("""Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Colombo, Ricci, Marino,
        Greco, Bruno, Gallo, Conti, De Luca, Mancini, Costa, Giordano, Rizzo, Lombardi,
        Moretti, Barbieri, Fontana, Santoro, Mariani, Rinaldi, Caruso, Ferrara, Galli, Martini,
        Leone, Longo, Gentile, Martinelli, Vitale, Lombardo, Serra, Coppola, De Santis,
        D'Angelo, Marchetti, Parisi, Villa, Conte, Ferraro, Ferri, Fabbri, Bianco, Marini,
        Grasso, Valentini, Messina, Sala, De Angelis, Gatti, Pellegrini, Palumbo, Sanna,
        Farina, Rizzi, Monti, Cattaneo, Morelli, Amato, Silvestri, Mazza, Testa, Grassi,
        Pellegrino, Carbone, Giuliani, Benedetti, Barone, Rossetti, Caputo, Montanari, Guerra,
        Palmieri, Bernardi, Martino, Fiore, De Rosa, Ferretti, Bellini, Basile, Riva, Donati,
        Piras, Vitali, Battaglia, Sartori, Neri, Milani, Pagano, Ruggiero, Sorrentino,
        D'Amico, Orlando, Dell'Acqua, Cantù, Lo Russo, Dalla Rosa, Dell'Orto"""),
    salutations_f=_words("Sig.ra, Sig.ra, Dott.ssa, Avv., Ing."),
    salutations_m=_words("Sig., Sig., Dott., Ing., Avv."),
    country_names=_words("Italia, Italy, Italy, Italie, IT"),
    legal_forms=_words("S.r.l., S.r.l., Srl, S.p.A., S.n.c., S.a.s., S.r.l.s."),
    activities=_words("""Costruzioni, Consulenze, Ingegneria, Logistica, Immobiliare,
        Distribuzione, Trasporti, Meccanica, Impianti, Arredamenti, Tessuti, Alimentari"""),
    activity_first=0.6,
    family_firms=("{f} e Figli", "{f} & {g}", "Gruppo {f}", "F.lli {f}"),
    tlds=_words(".it, .it, .it, .com, .eu"),
    free_mail=_words("""gmail.com, gmail.com, gmail.com, libero.it, libero.it, virgilio.it,
        tiscali.it, alice.it, hotmail.it, yahoo.it, outlook.it, tin.it"""),
    streets=_words("""Via Roma, Via Garibaldi, Corso Vittorio Emanuele II, Via Dante Alighieri,
        Piazza del Duomo, Via Mazzini, Via Cavour, Corso Buenos Aires, Via Nazionale,
        Viale Monza, Via Toledo, Via dei Mille, Via XX Settembre, Piazza San Marco"""),
    street_number_first=False,
    cities=(
        ("Roma", "RM", ("00184", "00186", "00198")),
        ("Milano", "MI", ("20121", "20123", "20159")), ("Napoli", "NA", ("80121", "80133")),
        ("Torino", "TO", ("10121", "10128")), ("Palermo", "PA", ("90133",)),
        ("Genova", "GE", ("16121",)), ("Bologna", "BO", ("40121", "40126")),
        ("Firenze", "FI", ("50122", "50129")), ("Bari", "BA", ("70121",)),
        ("Catania", "CT", ("95124",)), ("Venezia", "VE", ("30121",)),
        ("Verona", "VR", ("37121",)), ("Padova", "PD", ("35122",)),
        ("Trieste", "TS", ("34121",)), ("Brescia", "BS", ("25121",)),
        ("Parma", "PR", ("43121",)), ("Modena", "MO", ("41121",)),
        ("Forlì", "FC", ("47121",)), ("Cantù", "CO", ("22063",)),
    ),
    job_titles=_words("""Direttore commerciale, Amministratore delegato, Responsabile acquisti,
        Project manager, Titolare, Responsabile marketing, Impiegata amministrativa,
        Agente di commercio, Direttore tecnico, Ingegnere, Commercialista"""),
    departments=_words("Vendite, Acquisti, Marketing, Direzione, Amministrazione"),
    notes=("Incontrato a Milano, interessato all'offerta", "Chiamare dopo le 15"),
)

POOLS: dict[str, Country] = {"FR": FR, "DE": DE, "GB": GB, "ES": ES, "IT": IT}

# Made-up brand names ("Novatek", "Altivia"): a prefix and a suffix.
BRAND_HEADS = _words("""Nova, Alti, Conti, Euro, Inno, Digi, Medi, Agro, Bio, Tele, Data, Omni,
    Vita, Helio, Arco, Lumi, Terra, Aqua, Neo, Opti, Sila, Vero, Axe, Kali""")
BRAND_TAILS = _words("tek, via, sys, line, com, lab, gen, nova, pharm, log, soft, med, ion, ix, ia")
# Legal forms of foreign subsidiaries, written after a brand ("Novatek Europe BV").
FOREIGN_FORMS = _words("BV, B.V., Inc, Inc., LLC, NV, SA, AB, Sàrl")
FOREIGN_QUALIFIERS = _words("Europe, International, Group, Holding, France, Iberia, Italia")

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
EMAIL_TAGS = _words("crm, news, outlook, pro, work, salon, invoices, 2019")
WEB_PREFIXES = ("https://www.", "https://www.", "http://www.", "www.", "https://")

# Phone numbers: (country, kind, national significant number length, national groups,
# international groups, prefixes). Every prefix was checked against phonenumbers'
# metadata (8.13): all numbers "prefix + any digits" of that length are valid, of that
# kind, and format with these groups. National groups count the trunk "0" where there is
# one ("06 12 34 56 78"); international groups do not ("+33 6 12 34 56 78").
# `generate_outlook.py --check-phones N` re-checks a sample against the installed version.
PHONE_TABLE: tuple[tuple[str, str, int, tuple[int, ...], tuple[int, ...], str], ...] = (
    ("FR", "mobile", 9, (2, 2, 2, 2, 2), (1, 2, 2, 2, 2),
     "601 607 608 610 611 612 614 615 616 617 618 620 621 622 624 625 626 627 628 630 632 "
     "633 640 642 643 645 646 647 648 650 652 658 660 661 662 663 664 665 666 667 668 670 "
     "672 674 675 676 677 678 680 681 682 684 685 686 687 688 695 698 699 751 752 753 754 "
     "755 756 757 758 760 761 762 763 764 766 767 768 769 770 771 772 773 774 778 780 781 "
     "782 783 784 785 786 787 788 789"),
    ("FR", "fixed", 9, (2, 2, 2, 2, 2), (1, 2, 2, 2, 2),
     "140 142 143 144 145 146 147 148 149 153 155 156 158 160 164 169 130 134 139 230 231 "
     "232 233 235 240 241 243 247 251 299 320 321 322 323 325 326 327 328 380 381 383 384 "
     "385 386 387 388 389 390 413 414 416 420 422 423 424 425 426 427 428 450 456 457 467 "
     "468 472 476 478 491 492 493 494 495 497 546 549 553 555 556 557 559 561 562 563 565"),
    ("DE", "mobile", 11, (5, 7), (4, 7), "151 152 157 159"),
    ("DE", "mobile", 10, (4, 7), (3, 7), "160 162 163 170 171 172 173 174 175 176 177 178 179"),
    ("DE", "fixed", 10, (3, 8), (2, 8),
     "301 302 303 304 305 306 307 308 309 401 402 403 404 405 406 407 408 409 891 892 893 "
     "894 895 896 897 898 899 691 692 693 694 695 696 697 698 699"),
    ("DE", "fixed", 10, (4, 7), (3, 7),
     "2211 2212 2213 2214 2215 2216 2217 2218 2219 2111 2112 2113 2114 2115 2116 2117 2118 "
     "2119 7111 7112 7113 7114 7115 7116 7117 7118 7119 3411 3412 3413 3414 3415 3416 3417 "
     "3418 3419"),
    ("GB", "mobile", 10, (5, 6), (4, 6),
     "710 711 712 713 714 715 716 717 718 719 720 721 722 723 724 725 726 727 728 729 730 "
     "731 732 733 734 735 736 737 738 739 740 741 742 743 744 745 746 747 748 749 750 751 "
     "752 753 754 755 756 757 758 759 771 772 773 774 775 776 777 778 779 780 781 782 783 "
     "784 785 786 787 788 789 790 792 793 794 795 796 797 798 799"),
    ("GB", "fixed", 10, (3, 4, 4), (2, 4, 4), "200 201 203 204 207 208"),
    ("GB", "fixed", 10, (4, 3, 4), (3, 3, 4),
     "1210 1211 1212 1213 1214 1215 1216 1217 1610 1611 1612 1613 1614 1615 1616 1617 1618 "
     "1619 1310 1311 1312 1313 1314 1315 1316 1317 1318 1410 1411 1412 1413 1414 1415 1416 "
     "1417 1418 1419 1130 1131 1132 1133 1134 1135 1138 1170 1171 1172 1173 1174 1179 1140 "
     "1141 1142 1143 1144 1145 1150 1151 1152 1156 1157 1158 1159 1510 1511 1512 1513 1514 "
     "1515 1516 1517 1518 1519"),
    ("ES", "mobile", 9, (3, 2, 2, 2), (3, 2, 2, 2),
     "600 601 602 603 604 605 606 607 608 609 610 611 612 613 614 615 616 617 618 619 620 "
     "621 622 623 624 625 626 627 628 629 630 631 632 633 634 635 636 637 638 639 640 641 "
     "642 643 644 645 646 647 648 649 650 651 652 653 654 655 656 657 658 659 660 661 662 "
     "663 664 665 666 667 668 669 670 671 672 673 674 675 676 677 678 679 680 681 682 683 "
     "684 685 686 687 688 689 690 691 692 693 694 695 696 697 698 699 710 711 712 713 714 "
     "715 716 717 718 719 720 721 722 723 724 725 726 727 728 729 730 731 732 733 734 735 "
     "736 737 738 739 740 741 742 743 744 745 746 747 748 749 780 781 782 783 784 785 786 "
     "787 788 789"),
    ("ES", "fixed", 9, (3, 2, 2, 2), (3, 2, 2, 2),
     "910 911 912 913 914 915 916 917 918 919 930 931 932 933 934 935 936 937 938 939 960 "
     "961 962 963 964 965 966 967 968 969 950 951 952 953 954 955 956 957 958 959 941 942 "
     "943 944 945 946 947 948 949 9760 9761 9762 9763 9764 9765 9766 9767 9768 9769 980 981 "
     "982 983 984 985 986 987 988 971 972 973 974 975 976 977 978 979"),
    ("IT", "mobile", 10, (3, 3, 4), (3, 3, 4),
     "310 311 312 313 314 315 316 317 318 319 320 321 322 323 324 325 326 327 328 329 330 "
     "331 332 333 334 335 336 337 338 339 340 341 342 343 344 345 346 347 348 349 350 351 "
     "352 353 354 355 356 357 358 359 360 361 362 363 364 365 366 367 368 369 370 371 372 "
     "373 374 375 376 377 378 379 380 381 382 383 384 385 386 387 388 389 390 391 392 393 "
     "394 395 396 397 398 399"),
    ("IT", "fixed", 10, (2, 4, 4), (2, 4, 4),
     "060 061 062 063 064 065 066 067 068 069 020 021 022 023 024 025 026 027 028 029"),
    ("IT", "fixed", 10, (3, 3, 4), (3, 3, 4),
     "0110 0111 0112 0113 0114 0115 0116 0117 0118 0119 0550 0551 0552 0553 0554 0555 0556 "
     "0557 0558 0559 0810 0811 0812 0813 0814 0815 0816 0817 0818 0819 0510 0511 0512 0513 "
     "0514 0515 0516 0517 0518 0519 0410 0411 0412 0413 0414 0415 0416 0417 0418 0419 0100 "
     "0101 0102 0103 0104 0105 0106 0107 0108 0109 0910 0911 0912 0913 0914 0915 0916 0917 "
     "0918 0919 0490 0491 0492 0493 0494 0495 0496 0497 0498 0499"),
)  # fmt: skip
